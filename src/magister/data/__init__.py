"""Curricula over training data: skill mixtures for PyTorch and Hugging Face loops.

* :class:`SkillSampler` - a ``torch`` batch sampler whose per-batch skill
  counts come from any discrete magister teacher, with feedback from training
  losses, correctness or per-skill evaluation (``magister.data.sampler``);
* :class:`SkillStream` - the same over one iterable source per skill (lists,
  ``IterableDataset``, Hugging Face streaming datasets), resumable mid-stream
  (``magister.data.streaming``);
* :func:`add_curriculum` / :class:`CurriculumCallback` /
  :class:`CurriculumTrainer` - the same for a Hugging Face ``Trainer``
  (``magister.data.hf``; ``transformers`` is imported only there);
* :class:`PromptCurriculum` - prompts of each RL fine-tuning step chosen by a
  teacher over prompt categories or single prompts, fed by the rewards of
  their completions (``magister.data.prompts``, numpy only);
  :func:`add_prompt_curriculum` / :class:`CurriculumGRPOTrainer` - the same
  for TRL's ``GRPOTrainer`` (``magister.data.grpo``; ``trl`` is imported only there);
* :func:`estimate_skill_graph` - a Skill-It graph from short probe runs
  (``magister.data.graph``);
* :mod:`magister.data.synthetic` - LEGO, addition and unlearnable-skill
  datasets; :mod:`magister.data.model` - the tiny transformer of the benchmark.

Importing this package is light: torch, transformers and trl are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "SkillSampler": "sampler", "RunningLossScore": "sampler", "SkillStream": "streaming",
    "add_curriculum": "hf", "CurriculumCallback": "hf", "CurriculumTrainer": "hf",
    "estimate_skill_graph": "graph", "probe_graph": "graph",
    "SkillData": "synthetic", "lego": "synthetic", "addition": "synthetic", "with_unlearnable_skill": "synthetic",
    "TinyTransformer": "model",
    "PromptCurriculum": "prompts",
    "add_prompt_curriculum": "grpo", "CurriculumGRPOTrainer": "grpo", "load_curriculum_checkpoint": "grpo",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # the same names for type checkers, exported (`as`: a lazy name was Any to them, and __all__ is
    # computed); at run time __getattr__ imports each on first use
    from .graph import estimate_skill_graph as estimate_skill_graph, probe_graph as probe_graph
    from .grpo import (
        CurriculumGRPOTrainer as CurriculumGRPOTrainer,
        add_prompt_curriculum as add_prompt_curriculum,
        load_curriculum_checkpoint as load_curriculum_checkpoint,
    )
    from .hf import (
        CurriculumCallback as CurriculumCallback, CurriculumTrainer as CurriculumTrainer,
        add_curriculum as add_curriculum,
    )
    from .model import TinyTransformer as TinyTransformer
    from .prompts import PromptCurriculum as PromptCurriculum
    from .sampler import RunningLossScore as RunningLossScore, SkillSampler as SkillSampler
    from .streaming import SkillStream as SkillStream
    from .synthetic import (
        SkillData as SkillData, addition as addition, lego as lego,
        with_unlearnable_skill as with_unlearnable_skill,
    )


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'magister.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
