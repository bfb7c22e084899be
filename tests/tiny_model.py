"""A tiny mT5-architecture model built offline, for tests of the real loading and generation code.

The tokenizer is a Unigram model (the kind mT5's sentencepiece uses) trained with the
`tokenizers` library on Arabic sentences written here; the model has random weights, so what
it writes is nonsense, but every call goes through the same transformers code as a real
checkpoint: save_pretrained, AutoTokenizer / AutoModelForSeq2SeqLM.from_pretrained, generate.
Built once per test session (about a second once torch is imported).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

# Sentences in the style of the stories the tests use; digits and a few Latin names so that
# the vocabulary covers what the guard looks at.
TRAINING_TEXT = (
    "أعلنت وزارة الصحة اليوم افتتاح 3 مستشفيات جديدة في الرياض لخدمة المرضى",
    "قال الرئيس إن الاقتصاد نما بنسبة 5 في المئة هذا العام بعد سنوات من الركود",
    "التقى وزير الخارجية نظيره الفرنسي في باريس لبحث الأزمة في المنطقة",
    "هطلت أمطار غزيرة على المدينة أمس وأغلقت الطرق الرئيسية لساعات",
    "ذكرت وكالة Reuters أن شركة Microsoft ستفتح مكتبا جديدا في دبي عام 2025",
    "وأضاف المتحدث أن الحكومة ستواصل دعم القطاع الخاص وتوفير فرص العمل للشباب",
    "وسجلت البورصة ارتفاعا بنسبة ٢ في المئة في ختام تداولات الأسبوع",
    "وأكدت الشرطة أن التحقيقات ما زالت جارية لمعرفة أسباب الحادث",
)
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2 as in T5


@lru_cache(maxsize=1)
def tiny_model_dir() -> Path:
    """The folder of a tiny mT5 model and its tokenizer, saved with save_pretrained."""
    folder = Path(tempfile.mkdtemp(prefix="briefing-tiny-mt5-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # one per test session, gone after
    tokenizer = _train_tokenizer()
    tokenizer.save_pretrained(folder)
    _random_model(len(tokenizer)).save_pretrained(folder)
    return folder


def _train_tokenizer():  # -> PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=300, special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>"
    )
    tokenizer.train_from_iterator(list(TRAINING_TEXT) * 4, trainer)
    # Like T5: every sequence ends with </s>.
    tokenizer.post_processor = TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def _random_model(vocab_size: int):  # -> MT5ForConditionalGeneration
    import torch
    from transformers import MT5Config, MT5ForConditionalGeneration

    config = MT5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_ff=64,
        d_kv=16,
        num_heads=2,
        num_layers=2,
        num_decoder_layers=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    return MT5ForConditionalGeneration(config).eval()
