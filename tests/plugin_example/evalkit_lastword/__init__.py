"""`lastword`: repeat the last word of a sentence, optionally shouted; and `echo/`, a backend that does it."""

from __future__ import annotations

from evalkit.backends import Backend, BackendKind
from evalkit.params import Param
from evalkit.registry import TaskFamily
from evalkit.roles import Scorer, Task, TaskData
from evalkit.types import Completion, GenerationParams, Request, Sample, Score


class ExactWord(Scorer):
    metrics = ("exact", "ignore_case")
    lenient_metric = "ignore_case"

    def score(self, items):
        scores = []
        for sample, outputs in items:
            reply = outputs[0].strip()
            exact, loose = float(reply == sample.target), float(reply.lower() == sample.target.lower())
            scores.append(Score(exact, reply, format_ok=" " not in reply, metrics={"exact": exact, "ignore_case": loose}))
        return scores


class LastWord(Task):
    version = "1"

    def __init__(self, options):
        self.name, self.options, self.scorer = "lastword", options, ExactWord()

    def load(self):
        sentences = [s.strip() for s in self.options.params["sentences"].split("|") if s.strip()]
        shout = self.options.params["shout"]
        samples = tuple(Sample(id=str(i), turns=(s,), target=s.split()[-1].upper() if shout else s.split()[-1],
                               genre="shouted" if shout else "plain") for i, s in enumerate(sentences))
        return TaskData(samples, {"sentences": len(samples)})

    def build_request(self, sample, history):
        how = "SHOUT the last word of" if self.options.params["shout"] else "Repeat the last word of"
        return Request(kind="chat", messages=(("user", f"{how}: {sample.turns[0]}"),), params=GenerationParams(max_tokens=8))


family = TaskFamily(
    name="lastword", description="Repeat the last word of a sentence", build=lambda variant, options: LastWord(options),
    params=(Param("sentences", "str", "the sentences, separated by |", required=True),
            Param("shout", "bool", "ask for the word in capitals", default=False)),
)


class Echo(Backend):
    """Answers with the last word of the request, in capitals when asked to shout."""

    def __init__(self, style):
        self.name, self.style = f"echo/{style}", style

    def identity(self):
        return {"kind": "echo", "style": self.style}

    async def generate(self, requests):
        answers = []
        for request in requests:
            text = request.messages[-1][1]
            word = text.split()[-1]
            answers.append(Completion(text=word.upper() if text.startswith("SHOUT") else word))
        return answers


echo = BackendKind("echo", "echo/<style>", lambda style, settings: Echo(style))
