"""Learning from the curators' decisions, on cached features only (docs/architecture.md, "Learning from
decisions"). Torch only: no SQL, no Qt.

* `terms`: each attribute's term of the LaZSL score (its transport-weighted similarity) and its
  best single-region similarity (the presence cue), batched.
* `learners`: the learner registry (`LEARNERS`, keyed like `engine.types.LEARN_METHODS`): the
  interpretable attribute-weight learner and the Tip-Adapter-style cache head.
* `params`: learned parameters saved to content-addressed files (never overwritten).
"""
