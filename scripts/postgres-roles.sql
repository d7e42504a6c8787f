-- The two PostgreSQL roles of VIP CRM (run as a superuser, once per server).
--   vipcrm_owner owns the schema and runs migrations (DATABASE_OWNER_URL).
--   vipcrm_app   is what the web, worker and beat connect as (DATABASE_URL): it owns
--                nothing and is neither superuser nor BYPASSRLS, so Row-Level
--                Security binds it. Set passwords with ALTER ROLE in production.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vipcrm_owner') THEN
        CREATE ROLE vipcrm_owner LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vipcrm_app') THEN
        CREATE ROLE vipcrm_app LOGIN NOCREATEDB NOSUPERUSER NOBYPASSRLS;
    END IF;
END $$;
SELECT 'CREATE DATABASE vipcrm OWNER vipcrm_owner'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'vipcrm')\gexec
