"""Chinese first: the language is the user's explicit choice, else Simplified Chinese.

For pages the browser's Accept-Language is deliberately ignored: bank PCs often run
English Windows images, and the bank wants its staff to meet the product in Chinese.
The API is different: its clients are programs, which ask for the language of the
error messages they log with Accept-Language (Chinese when they don't say).
"""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request) -> None:
        supported = {code for code, _name in settings.LANGUAGES}
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if language not in supported and request.path_info.startswith("/api/"):
            language = translation.get_language_from_request(request)
        if language not in supported:
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
