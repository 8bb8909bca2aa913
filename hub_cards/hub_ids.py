"""The Hub's own ids that card metadata may carry: licence ids, pipeline / task ids, dataset size categories
(``size_category`` picks one for a record count). :func:`~hub_cards.card_validation.validate_card` checks cards
against them."""

from __future__ import annotations

# Hub licence ids (https://huggingface.co/docs/hub/repositories-licenses), the ones a card here may carry.
HUB_LICENSES = frozenset("""apache-2.0 mit openrail openrail++ bigscience-openrail-m creativeml-openrail-m
bigscience-bloom-rail-1.0 bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause
bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0
cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0
eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c
ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openmdw-1.0 openrail-m osl-3.0 postgresql ofl-1.1 ncsa unlicense
zlib pddl lgpl-lr deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3
llama4 gemma unknown other""".split())

# pipeline / task ids of the Hub that the cards use or are likely to be given
HUB_PIPELINE_TAGS = frozenset("""video-text-to-text image-text-to-text text-generation audio-text-to-text
any-to-any video-classification audio-classification text-classification feature-extraction
automatic-speech-recognition visual-question-answering zero-shot-classification sentence-similarity
text-to-speech summarization translation question-answering fill-mask""".split())
HUB_TASK_CATEGORIES = HUB_PIPELINE_TAGS | {"other"}
SIZE_CATEGORIES = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B")


def size_category(n: int) -> str:
    bounds = [1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000]
    for b, name in zip(bounds, SIZE_CATEGORIES):
        if n < b:
            return name
    return SIZE_CATEGORIES[-1]
