"""lm-eval task YAML over local files, written for a test: lm-eval's own gsm8k and an MMLU-style JMMLU.

lm-eval's tasks load their data from the Hugging Face Hub; these variants point the same task
definitions at files on disk (../shared/recipes/lm-eval-offline.md), so that evalkit's bridge and
`lm_eval` itself can run them offline from one include folder.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# The first N questions of each subject keep the prompts short: llama.cpp's server costs about a
# third of a second per prompt token for a log-likelihood (it ranks the whole vocabulary each token).
JMMLU_SUBJECTS = ("world_religions", "conceptual_physics", "japanese_history", "management", "anatomy")


def lm_eval_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def write_gsm8k_local(folder: Path, data_dir: Path) -> str:
    """lm-eval's gsm8k.yaml (included, not copied) over the GSM8K files of the data folder: `gsm8k_local`."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "include": str(lm_eval_tasks_dir() / "gsm8k" / "gsm8k.yaml"),
        "task": "gsm8k_local",
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"train": str(data_dir / "gsm8k" / "train.jsonl"),
                                          "test": str(data_dir / "gsm8k" / "test.jsonl")}},
    }
    (folder / "gsm8k_local.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return "gsm8k_local"


def write_jmmlu_local(folder: Path, data_dir: Path, subjects: tuple[str, ...] = JMMLU_SUBJECTS) -> str:
    """MMLU's default layout (its template's prompt, choices, target and metric) over JMMLU's CSV files,
    which have no header (question, A, B, C, D, answer letter): a group `jmmlu_local` of one task a subject."""
    folder.mkdir(parents=True, exist_ok=True)
    mmlu = yaml.safe_load((lm_eval_tasks_dir() / "mmlu" / "default" / "_default_template_yaml").read_text())
    template = {key: mmlu[key] for key in ("output_type", "doc_to_choice", "doc_to_target", "metric_list", "metadata")}
    # JMMLU's columns are named after the choice letters, so MMLU's `choices[i]` becomes the letter's column
    template["doc_to_text"] = mmlu["doc_to_text"].replace("choices[0]", "A").replace("choices[1]", "B") \
        .replace("choices[2]", "C").replace("choices[3]", "D")
    template.update({"dataset_path": "csv", "test_split": "test", "num_fewshot": 0})
    (folder / "_jmmlu_template_yaml").write_text(yaml.safe_dump(template, allow_unicode=True, sort_keys=False))
    for subject in subjects:
        config = {
            "include": "_jmmlu_template_yaml",
            "task": f"jmmlu_local_{subject}",
            "task_alias": subject,
            "dataset_name": None,
            "dataset_kwargs": {"data_files": {"test": str(data_dir / "jaster" / "jmmlu" / f"{subject}.csv")},
                               "column_names": ["question", "A", "B", "C", "D", "answer"],
                               "encoding": "utf-8-sig"},
        }
        (folder / f"jmmlu_local_{subject}.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    group = {"group": "jmmlu_local", "task": [f"jmmlu_local_{s}" for s in subjects],
             "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}], "metadata": {"version": 1}}
    (folder / "_jmmlu_local.yaml").write_text(yaml.safe_dump(group, sort_keys=False))
    return "jmmlu_local"
