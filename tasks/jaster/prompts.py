"""Jaster prompts: a completion frame for base models, chat turns for chat models.

The frame is llm-jp-eval's (protocol.py, read from its published files) or, in the non-default
`-T prompts=evalkit` profile, evalkit's own (templates/frames.yaml). Chat turns carry the same
instruction and few-shots in either profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster.catalog import frames
from evalkit.tasks.jaster.examples import Example
from evalkit.tasks.jaster.protocol import EVALKIT_PROFILE, Frame


@dataclass(frozen=True)
class DatasetPrompt:
    """Everything of a dataset's prompt but the test input; the completion prefix is built once."""

    frame: Frame
    instruction: str
    shots: tuple[Example, ...]
    language: str = "ja"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_prefix", self.frame.prefix(self.instruction, self.shots))

    def completion(self, text: str) -> str:
        return self._prefix + self.frame.query_block(text)  # type: ignore[attr-defined]

    def chat(self, text: str) -> tuple[tuple[str, str], ...]:
        """The instruction opens the first user turn; each shot is a user/assistant exchange; the test input is the last user turn."""
        first = _section("chat", self.language)["first_turn"]
        inputs = [shot.input for shot in self.shots] + [text]
        messages: list[tuple[str, str]] = [("user", first.format(instruction=self.instruction, input=inputs[0]))]
        for shot, following in zip(self.shots, inputs[1:]):
            messages.append(("assistant", shot.output))
            messages.append(("user", following))
        return tuple(messages)


def _section(profile: str, language: str) -> dict:
    try:
        return frames()[profile][language]
    except KeyError:
        raise EvalkitError(f"jaster: templates/frames.yaml has no {profile} frame for language {language!r}") from None


@lru_cache(maxsize=4)
def evalkit_frame(language: str) -> Frame:
    """evalkit's own completion frame for a language, in the Frame form llm-jp-eval's is read into."""
    f = _section("completion", language)
    block = f"{f['input_header']}\n{{input}}\n\n{f['response_header']}\n"
    return Frame(head=f"{f['preamble']}\n\n{f['instruction_header']}\n{{instruction}}\n\n",
                 shot=block + "{output}\n\n", query=block, name=f"{EVALKIT_PROFILE} ({language})")


def stop_sequences() -> tuple[str, ...]:
    return tuple(frames().get("stop", ()))
