"""`python -m evalkit.schemas`: write the JSON Schema files of the run folder format next to this module."""

from evalkit.schemas import FOLDER, generated, render

for name, schema in generated().items():
    (FOLDER / name).write_text(render(schema), encoding="utf-8")
    print(f"wrote {FOLDER / name}")
