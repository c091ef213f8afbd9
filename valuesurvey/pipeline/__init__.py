"""Running a study end to end: ``run``, ``resume``, ``demo`` and the journal ``artifact``.

::

    run_study(study.yaml)      elicit → analyze → figures → report, each stage skipped when
                               its inputs (study.yaml sections, files, code) are unchanged (manifest.json)
    resume_study(study.yaml)   completes a partial run; on a complete run does nothing
    run_demo(out_dir)          the offline demo: synthetic humans, simulated panel, local SmolLM2
    build_artifact(study)      the zip for journal submission
"""

from valuesurvey.pipeline._runner import RunSummary, StageResult, resume_study, run_study
from valuesurvey.pipeline._stages import DEFAULT_STAGES, STAGE_NAMES, Stage, StageContext
from valuesurvey.pipeline.artifact import build_artifact
from valuesurvey.pipeline.demo import DemoConfig, DemoResult, run_demo

__all__ = [
    "DEFAULT_STAGES",
    "STAGE_NAMES",
    "DemoConfig",
    "DemoResult",
    "RunSummary",
    "Stage",
    "StageContext",
    "StageResult",
    "build_artifact",
    "resume_study",
    "run_demo",
    "run_study",
]
