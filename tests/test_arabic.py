from briefing.arabic import content_tokens, is_arabic_text, normalize, stem, tokenize


def test_normalize_folds_spelling_variants_for_matching() -> None:
    assert normalize("أَحْمَدُ") == normalize("احمد")
    assert normalize("إسرائيل") == normalize("اسرائيل")
    assert normalize("مستشفى") == normalize("مستشفي")
    assert normalize("مدرسة") == normalize("مدرسه")
    assert normalize("مدرسة", fold_teh_marbuta=False).endswith("ة")
    assert normalize("الـــعـــربية") == normalize("العربية")


def test_normalize_maps_arabic_indic_digits_to_ascii() -> None:
    assert normalize("٢٠٢٦ و ۱۲ و ٣٫٥") == "2026 و 12 و 3.5"


def test_tokenize_keeps_arabic_latin_and_numbers() -> None:
    tokens = tokenize("قالَ بوتين لـ BBC إنّ 1,200 شخص، و٣٫٥ مليون؟")
    assert "بوتين" in tokens
    assert "bbc" in tokens
    assert "1,200" in tokens
    assert "3.5" in tokens
    assert all(t for t in tokens)


def test_content_tokens_drop_stop_words_and_stem_clitics() -> None:
    tokens = content_tokens("وقال الرئيس في المؤتمر إن المسلمين والمعلمات")
    assert "في" not in tokens
    assert "رييس" in tokens  # ال stripped, hamza carrier folded
    assert stem("والمعلمات") == stem("المعلمات") == "معلم"
    assert stem("بوتين") != "وتين"  # one-letter prefixes other than و are kept: names survive


def test_is_arabic_text() -> None:
    assert is_arabic_text("هذا نص عربي طويل نسبيا فيه كلمة English واحدة")
    assert not is_arabic_text("This is English with كلمة")
    assert not is_arabic_text("12345")
