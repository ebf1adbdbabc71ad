"""Fine-tuning the embedding model on judged queries: `freshindex finetune`.

The stages, each a module:

  data        records (`Passage`, `Candidates`, `Example`), the query split (train /
              validation / test), hard-negative mining and the training rows; pure functions
  mining      where candidates come from: the live index (`Retriever.candidates`, BM25 and
              vectors, the code `freshindex serve` runs) or, when it is away, the corpus in
              process (BM25 over the same analysed terms, cosine over the base model's vectors)
  model       the sentence-transformers model: load, embed, vector-only nDCG@10 in process, the
              training loop (MultipleNegativesRankingLoss with hard negatives, early stopping)
  repository  Triton's model repository: the next version, the version folder written
              atomically (`model.py`, `weights/`, `fingerprint.json`)
  run         the orchestration: split, mine, measure before, train, measure after, write

Errors (`WorkerError` is the root of the package; these are in `workers.finetune.errors`)::

    FinetuneError           fine-tuning cannot be done as asked
     ├── TrainingDataError  no query to train on or validate with, no positive, no negative
     ├── BaseModelError     the base model cannot be found or loaded
     └── RepositoryError    the model repository cannot take a new version
"""
