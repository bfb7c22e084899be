"""The Arabic text core shared by every stage that matches text.

Readers always see text exactly as published; everything here is for matching only.
"""

from briefing.arabic.normalize import normalize
from briefing.arabic.tokens import content_tokens, is_arabic_text, stem, tokenize

__all__ = ["content_tokens", "is_arabic_text", "normalize", "stem", "tokenize"]
