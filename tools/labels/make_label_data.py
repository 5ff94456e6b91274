#!/usr/bin/env python3
"""Writes data/labels/ from timm's ImageNet synset lists (facts: WordNet ids, lemmas and class orders).

usage: tools/labels/make_label_data.py [TIMM_INFO_DIR]   (default ../shared/timm/timm/data/_info)

  imagenet_lemmas.tsv.gz  every synset any set uses, sorted, "nXXXXXXXX<TAB>first lemma" per line (gzip,
                          mtime 0, so the bytes are reproducible)
  imagenet_sets.txt.gz    one line per label set: "<name> <classes> <ranges>", where <ranges> lists, in class
                          order, the rows of the lemma table as "a-b" (inclusive) or "a" runs, comma-separated

Only the first lemma of each synset is kept: it is the short name timm-trained 1k checkpoints ship as
label_names ("tabby" for "tabby, tabby cat"), and it keeps the table at a third of the full size.
"""
import gzip
import os
import sys

info = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '../../../shared/timm/timm/data/_info')
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../data/labels')

# name (as `vitvk info` shows it) -> timm's synset file; class counts are what timm's own table maps them from.
SETS = [
    ('imagenet-1k', 'imagenet_synsets.txt'),
    ('imagenet-12k', 'imagenet12k_synsets.txt'),
    ('imagenet-21k-miil', 'imagenet21k_miil_synsets.txt'),
    ('imagenet-22k', 'imagenet22k_synsets.txt'),
    ('imagenet-22k-ms', 'imagenet22k_ms_synsets.txt'),
    ('imagenet-21k-goog', 'imagenet21k_goog_synsets.txt'),
]

lemma = {}
with open(os.path.join(info, 'imagenet_synset_to_lemma.txt'), encoding='utf-8') as f:
    for line in f:
        syn, lem = line.rstrip('\n').split('\t', 1)
        lemma[syn] = lem.split(', ')[0]
table = sorted(lemma)
row = {s: i for i, s in enumerate(table)}

lines = []
for name, fname in SETS:
    with open(os.path.join(info, fname), encoding='utf-8') as f:
        syns = f.read().split()
    idx = [row[s] for s in syns]
    runs, start = [], idx[0]
    for a, b in zip(idx, idx[1:] + [None]):
        if b != a + 1:
            runs.append(f'{start}-{a}' if a != start else f'{a}')
            start = b
    lines.append(f'{name} {len(idx)} {",".join(runs)}\n')

os.makedirs(out, exist_ok=True)
text = ''.join(f'{s}\t{lemma[s]}\n' for s in table).encode('utf-8')
with open(os.path.join(out, 'imagenet_lemmas.tsv.gz'), 'wb') as raw:
    with gzip.GzipFile(fileobj=raw, mode='wb', compresslevel=9, mtime=0, filename='') as gz:
        gz.write(text)
with open(os.path.join(out, 'imagenet_sets.txt.gz'), 'wb') as raw:
    with gzip.GzipFile(fileobj=raw, mode='wb', compresslevel=9, mtime=0, filename='') as gz:
        gz.write(''.join(lines).encode('utf-8'))
print(f'{len(table)} synsets; sets: ' + ', '.join(l.split()[0] + ' ' + l.split()[1] for l in lines))
