"""Python `tokenizers` reference for `cargo bench --bench tokenize`: encodes the documents of a
JSON-lines file with `Tokenizer.encode_batch` (no special tokens), the way Python pipelines feed
a corpus, and writes the ids as little-endian u16 for the bench to compare with sprs's. Prints
JSON: documents, tokens, seconds (encoding only; reading the JSON is not timed).

    RAYON_NUM_THREADS=1 python benches/reference_tokenize.py tokenizer.json corpus.jsonl ids.u16
"""

import json
import sys
import time
from array import array

from tokenizers import Tokenizer

BATCH = 8192


def main():
    tokenizer = Tokenizer.from_file(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f if line.strip()]
    ids = array("H")
    started = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        for encoding in tokenizer.encode_batch(docs[i : i + BATCH], add_special_tokens=False):
            ids.extend(encoding.ids)
    seconds = time.perf_counter() - started
    with open(sys.argv[3], "wb") as f:
        ids.tofile(f)
    print(json.dumps({"documents": len(docs), "tokens": len(ids), "seconds": seconds}))


main()
