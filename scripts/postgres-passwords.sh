#!/bin/sh
# docker-compose only: give the two roles the passwords the app's URLs carry.
set -e
psql -v ON_ERROR_STOP=1 -U postgres <<SQL
ALTER ROLE vipcrm_owner PASSWORD '${OWNER_DB_PASSWORD:-vipcrm_owner}';
ALTER ROLE vipcrm_app PASSWORD '${APP_DB_PASSWORD:-vipcrm_app}';
SQL
