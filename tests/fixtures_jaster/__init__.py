"""Tiny Jaster data folders in the original file formats (TSV, CSV, JSON, JSON Lines, XML, KNP, zip, tar), all invented."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

NLI_LABELS = ["entailment", "contradiction", "neutral"]
NAMES = [("太郎", "たろう"), ("花子", "はなこ"), ("次郎", "じろう"), ("三郎", "さぶろう"), ("良子", "よしこ"), ("一郎", "いちろう")]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def pair(i: int) -> tuple[str, str]:
    return f"公園に犬が{i + 2}匹いる。", f"公園に犬がいる{i}。"


# --- NLI ---------------------------------------------------------------------------------------


def write_jamp(root: Path, n_test: int = 6, n_train: int = 10) -> None:
    header = "num\tpremise\thypothesis\tgold_label\ttemplate_num\ttime_format\ttime_span\tcategory\n"

    def rows(n: int, offset: int) -> str:
        return "".join(f"{i}\t{pair(offset + i)[0]}\t{pair(offset + i)[1]}\t{NLI_LABELS[i % 3]}\t0\tNone\tNone\t現在\n" for i in range(n))

    write(root / "jaster/jamp/test_2.tsv", header + rows(n_test, 0))
    write(root / "jaster/jamp/train_all.tsv", header + rows(n_train, 100))


def write_janli(root: Path) -> None:
    header = "\tsentence_A_Ja\tsentence_B_Ja\tentailment_label_Ja\theuristics\tnumber_of_NPs\tsemtag\tsplit\n"
    lines = [f"{i}\t{pair(i)[0]}\t{pair(i)[1]}\t{['entailment', 'non-entailment'][i % 2]}\toverlap\t2\tscrambling\t"
             f"{'test' if i < 6 else 'train'}\n" for i in range(16)]
    write(root / "jaster/janli/janli.tsv", header + "".join(lines))


def write_jsick(root: Path) -> None:
    header = ("pair_ID\tdata\tsentence_A_En\tsentence_B_En\tentailment_label_En\trelatedness_score_En\tcorr_entailment_labelAB_En\t"
              "corr_entailment_labelBA_En\tsentence_A_Ja\tsentence_B_Ja\tentailment_label_Ja\trelatedness_score_Ja\timage_ID\t"
              "original_caption\tsemtag_short\tsemtag_long\n")

    def rows(n: int, offset: int, split: str) -> str:
        return "".join(f"{i}\t{split}\tA dog.\tA dog runs.\tneutral\t3.0\t\t\t{pair(offset + i)[0]}\t{pair(offset + i)[1]}\t"
                       f"{NLI_LABELS[i % 3]}\t3.0\tx.jpg\tA dog.\t\t\n" for i in range(n))

    write(root / "jaster/jsick/test.tsv", header + rows(6, 0, "test"))
    write(root / "jaster/jsick/train.tsv", header + rows(10, 50, "train"))


def jnli_rows(n: int, offset: int = 0) -> list[dict]:
    return [{"sentence_pair_id": str(i), "yjcaptions_id": f"{i}-0-1", "sentence1": pair(offset + i)[0],
             "sentence2": pair(offset + i)[1], "label": NLI_LABELS[i % 3]} for i in range(n)]


def write_jnli(root: Path, with_train: bool = True, n_valid: int = 6) -> None:
    write(root / "jaster/jnli/valid-v1.1.json", jsonl(jnli_rows(n_valid)))
    if with_train:
        write(root / "jaster/jnli/train-v1.1.json", jsonl(jnli_rows(10, 200)))


def jsem_problems() -> list[dict]:
    answers = ["yes", "no", "unknown", "undef", "unacceptable", "yes", "no", "weakacceptable"]
    return [{"file": "Adjectives", "jsem_id": str(i), "answer": answers[i % len(answers)], "inference_type": "entailment",
             "phenomena": "adjective", "language": "jp", "premises": [f"ジョンは本を{i}冊持っている。", "それは古い。"],
             "hypothesis": f"ジョンは本を持っている{i}。"} for i in range(40)]


def write_jsem(root: Path) -> None:
    write(root / "jaster/jsem/jsem_v1.0.jsonl", jsonl(jsem_problems()))


def jsem_xml(problems: list[dict]) -> str:
    body = "".join(
        f'<problem jsem_id="{p["jsem_id"]}" answer="{p["answer"]}" inference_type="entailment">'
        + "".join(f'<p idx="{k}"><script>{s}</script></p>' for k, s in enumerate(p["premises"]))
        + f'<h><script>{p["hypothesis"]}</script></h></problem>\n'
        for p in problems
    )
    return f'<?xml version="1.0" encoding="utf-8"?>\n<jsem-dataset>\n{body}</jsem-dataset>\n'


# --- QA, RC, MC ----------------------------------------------------------------------------------


def write_jemhopqa(root: Path) -> None:
    def rows(n: int, offset: int) -> list[dict]:
        return [{"qid": f"q{offset + i}", "type": "comparison", "question": f"{NAMES[i % 6][0]}の出身地は？",
                 "answer": f"町{offset + i}", "derivations": [], "page_ids": [], "time_dependent": False} for i in range(n)]

    write(root / "jaster/jemhopqa/dev.json", json.dumps(rows(5, 0), ensure_ascii=False))
    write(root / "jaster/jemhopqa/train.json", json.dumps(rows(10, 100), ensure_ascii=False))


def niilc_xml(questions: list[tuple[str, list[str]]]) -> str:
    body = "".join(
        f'<question id="NIILC-{i:05d}"><text>{q}</text><answers>'
        + "".join(f"<answer>{a}</answer>" for a in answers)
        + "</answers><meta><B1>は</B1></meta></question>\n"
        for i, (q, answers) in enumerate(questions)
    )
    return f"<?xml version='1.0' encoding=\"UTF-8\"?>\n<questions>\n{body}</questions>\n"


def write_niilc(root: Path) -> None:
    test = [("日本で一番高い山は？", ["富士山"]), ("答えのない質問は？", ["-"]), ("四国の県を一つ挙げよ", ["香川県", "愛媛県"]),
            ("日本の首都は？", ["東京"]), ("琵琶湖がある県は？", ["滋賀県"]), ("信濃川が流れる県は？", ["新潟県"])]
    dev = [(f"質問{i}の答えは？", [f"答{i}"]) for i in range(10)]
    write(root / "jaster/niilc/NIILC-ECQA2015_test.xml", niilc_xml(test))
    write(root / "jaster/niilc/NIILC-ECQA2015_dev.xml", niilc_xml(dev))


def squad(n: int, offset: int = 0) -> dict:
    qas = [{"question": f"{NAMES[i % 6][0]}が住む町は？", "id": f"a{offset + i}",
            "answers": [{"text": f"町{offset + i}", "answer_start": 3}], "is_impossible": False} for i in range(n)]
    return {"version": "v1.1", "data": [{"title": "町", "paragraphs": [{"context": "町 [SEP] 人々はそれぞれの町に住む。", "qas": qas}]}]}


def write_jsquad(root: Path, with_train: bool = True) -> None:
    write(root / "jaster/jsquad/valid-v1.1.json", json.dumps(squad(6), ensure_ascii=False))
    if with_train:
        write(root / "jaster/jsquad/train-v1.1.json", json.dumps(squad(10, 100), ensure_ascii=False))


def jcqa_rows(n: int, offset: int = 0) -> list[dict]:
    return [{"q_id": offset + i, "question": f"{i}番目の質問で正しいものは？", "choice0": f"りんご{i}", "choice1": f"みかん{i}",
             "choice2": f"ぶどう{i}", "choice3": f"もも{i}", "choice4": f"なし{i}", "label": i % 5} for i in range(n)]


def write_jcommonsenseqa(root: Path) -> None:
    write(root / "jaster/jcommonsenseqa/valid-v1.1.json", jsonl(jcqa_rows(6)))
    write(root / "jaster/jcommonsenseqa/train-v1.1.json", jsonl(jcqa_rows(10, 100)))


def write_commonsensemoralja(root: Path) -> None:
    def csv(n: int, offset: int) -> str:
        return ",sent,label\n" + "".join(f"{i},{NAMES[i % 6][0]}は友達を{offset + i}回助けた,{i % 2}\n" for i in range(n))

    write(root / "jaster/commonsensemoralja/data_test.csv", csv(6, 0))
    write(root / "jaster/commonsensemoralja/data_val.csv", csv(3, 50))
    write(root / "jaster/commonsensemoralja/data_train.csv", csv(6, 100))


# --- MR, HE, STS, CoLA ---------------------------------------------------------------------------


def write_mawps(root: Path) -> None:
    problems = [{"idx": i, "question": f"問題：りんごが{i}個あり、{i + 1}個もらいました。全部で何個？\n解答：", "answer": str(2 * i + 1),
                 "float": 0} for i in range(10)]
    shots = [{"shot_example": f"問題：みかんが{i}個あります。{i}個足すと何個？\n解答：{i} + {i} = {2 * i} 。よって、答えは{2 * i}です。\n"}
             for i in range(1, 5)]
    zero = [{"shot_example": f"問題：みかんが{i}個あります。{i}個足すと何個？\n解答：答えは{2 * i}です。\n"} for i in range(1, 5)]
    write(root / "jaster/mawps/test.json", json.dumps(problems, ensure_ascii=False, indent=4))
    write(root / "jaster/mawps/shot_example.json", json.dumps(shots, ensure_ascii=False, indent=4))
    write(root / "jaster/mawps/zero_shot_example.json", json.dumps(zero, ensure_ascii=False, indent=4))


def write_mgsm(root: Path) -> None:
    write(root / "gsm8k/mgsm_ja.tsv", "".join(f"鉛筆が{i}本と{i}本あります。全部で何本？\t{2 * i}\n" for i in range(1, 6)))
    write(root / "gsm8k/mgsm_exemplars_ja.jsonl",
          jsonl([{"q": f"問題：例題{i}", "a": f"ステップごとの答え：答えは{i}です。", "answer_number": i, "equation_solution": ""}
                 for i in range(1, 9)]))


def mc4_csv(n: int, offset: int = 0, bom: bool = False) -> str:
    rows = "".join(f"問{offset + i}の正解は？,選択肢{i}a, 選択肢{i}b,選択肢{i}c,\"選択肢{i}d, 長い\",{'ABCD'[i % 4]}\n" for i in range(n))
    return ("\ufeff" if bom else "") + rows


def write_jmmlu(root: Path) -> None:
    # llm-jp-eval moves 16 test rows into train, so the two subjects hold 21 test rows: 5 stay in test
    write(root / "jaster/jmmlu/abstract_algebra.csv", mc4_csv(24, bom=True))
    write(root / "jaster/jmmlu/anatomy.csv", mc4_csv(18, 100))


def write_jsts(root: Path) -> None:
    def rows(n: int, offset: int) -> list[dict]:
        return [{"sentence_pair_id": str(i), "yjcaptions_id": f"{i}", "sentence1": pair(offset + i)[0],
                 "sentence2": pair(offset + i)[1], "label": [0.0, 2.4, 3.6, 4.0, 5.0, 1.2][i % 6]} for i in range(n)]

    write(root / "jaster/jsts/valid-v1.1.json", jsonl(rows(6, 0)))
    write(root / "jaster/jsts/train-v1.1.json", jsonl(rows(10, 100)))


def write_jcola(root: Path) -> None:
    def rows(n: int, offset: int) -> list[dict]:
        return [{"uid": offset + i, "source": "Invented", "label": i % 2, "diacritic": "g", "sentence": f"{NAMES[i % 6][0]}が{i}回走った。",
                 "original": ""} for i in range(n)]

    write(root / "jaster/jcola/in_domain_valid-v1.0.json", jsonl(rows(6, 0)))
    write(root / "jaster/jcola/in_domain_train-v1.0.json", jsonl(rows(10, 100)))
    write(root / "jaster/jcola/out_of_domain_valid-v1.0.json", jsonl(rows(40, 200)))


# --- FA: Wikipedia Annotated Corpus (KNP) ----------------------------------------------------------


def knp_document(doc_id: str, name: str, reading: str) -> str:
    """Two sentences with a named entity, dependencies, predicate-argument relations and a coreference,
    plus a parenthesised reading sentence (括弧始) that every task leaves out."""
    return f"""# S-ID:{doc_id}-00 KNP:5.0
* 2D
+ 2D <NE:PERSON:{name}>
{name} {reading} {name} 名詞 6 人名 5 * 0 * 0 NIL
が が が 助詞 9 格助詞 1 * 0 * 0 NIL
* 2D
+ 2D
本 ほん 本 名詞 6 普通名詞 1 * 0 * 0 NIL
を を を 助詞 9 格助詞 1 * 0 * 0 NIL
* -1D
+ -1D <rel type="ガ" target="{name}" sid="{doc_id}-00" id="0"/><rel type="ヲ" target="本" sid="{doc_id}-00" id="1"/>
読んだ よんだ 読む 動詞 2 * 0 子音動詞マ行 9 タ形 10 NIL
。 。 。 特殊 1 句点 1 * 0 * 0 NIL
EOS
# S-ID:{doc_id}-01 括弧始:（ 括弧終:） 括弧位置:2 KNP:5.0
* -1D
+ -1D
{reading} {reading} {reading} 名詞 6 普通名詞 1 * 0 * 0 NIL
EOS
# S-ID:{doc_id}-02 KNP:5.0
* 1D
+ 1D <rel type="=" target="{name}" sid="{doc_id}-00" id="0"/>
彼 かれ 彼 名詞 6 普通名詞 1 * 0 * 0 NIL
は は は 助詞 9 副助詞 2 * 0 * 0 NIL
* -1D
+ -1D <rel type="ガ" target="彼" sid="{doc_id}-02" id="0"/>
喜んだ よろこんだ 喜ぶ 動詞 2 * 0 子音動詞バ行 8 タ形 10 NIL
。 。 。 特殊 1 句点 1 * 0 * 0 NIL
EOS
"""


def write_wiki(root: Path) -> None:
    for split, names in (("test", NAMES[:2]), ("dev", NAMES[2:])):
        rows = [{"doc_id": f"wiki{split}{i:04d}", "split": split, "knp": knp_document(f"wiki{split}{i:04d}", n, r)}
                for i, (n, r) in enumerate(names)]
        write(root / f"jaster/wiki/wac_v1.1.2_{split}.jsonl", jsonl(rows))
        write(root / f"jaster/wiki/{split}.id", "".join(r["doc_id"] + "\n" for r in rows))


LOCAL_WRITERS = [write_jamp, write_janli, write_jnli, write_jsem, write_jsick, write_jemhopqa, write_niilc, write_jsquad,
                 write_jcommonsenseqa, write_commonsensemoralja, write_mawps, write_mgsm, write_jmmlu, write_jsts,
                 write_jcola, write_wiki]
LOCAL_DATASETS = ["jamp", "janli", "jnli", "jsem", "jsick", "jemhopqa", "niilc", "jsquad", "jcommonsenseqa",
                  "commonsensemoralja", "wiki_reading", "wiki_ner", "wiki_dependency", "wiki_pas", "wiki_coreference",
                  "mawps", "mgsm", "jmmlu", "jsts", "jcola-in-domain", "jcola-out-of-domain"]


# An invented frame in llm-jp-eval's prompt_frame.json form: where the protocol texts are read from.
FRAME = {"version": "fixture frame", "head": "[frame] {instruction}", "shot": "\n<in>\n{input}\n<out>\n{output}",
         "query": "\n<in>\n{input}\n<out>\n"}


def instruction_of(name: str) -> str:
    return f"{name} の指示（fixture）"


def write_protocol(root: Path, datasets: list[str] | None = None, folder: str = "jaster/llm-jp-eval-1.3.0",
                   frame: dict | None = None) -> Path:
    """A protocol folder: prompt_frame.json and evaluation/test/<dataset>.json heads (no samples needed)."""
    from evalkit.tasks.jaster.catalog import catalog

    base = root / folder
    write(base / "prompt_frame.json", json.dumps(frame or FRAME, ensure_ascii=False))
    for name in datasets or list(catalog().datasets):
        spec = catalog().datasets[name]
        head = {"instruction": instruction_of(name), "output_length": spec.output_length + 1,
                "metrics": list(spec.metrics), "few_shots": [], "samples": []}
        write(base / "evaluation/test" / f"{name}.json", json.dumps(head, ensure_ascii=False))
    return base


def make_jaster_data(root: Path) -> Path:
    """The datasets of ../shared/data/jaster (and MGSM under gsm8k/), each a few invented items, and a protocol folder."""
    for writer in LOCAL_WRITERS:
        writer(root)
    write_protocol(root)
    return root


# --- datasets published only elsewhere (normally downloaded) ------------------------------------------


def write_online_only(root: Path) -> Path:
    qa = [{"qid": f"AIO-{i}", "question": f"日本で{i}番目に長い川は？", "answers": [f"川{i}", f"かわ{i}"]} for i in range(12)]
    write(root / "jaster/aio/aio_01_test.jsonl", jsonl(qa[:4]))
    write(root / "jaster/aio/aio_01_dev.jsonl", jsonl(qa[4:]))
    kuci = [{"id": i, "context": f"雨が{i}日降ったので", "choice_a": "傘をさした", "choice_b": "泳いだ", "choice_c": "寝た",
             "choice_d": "走った", "label": "abcd"[i % 4]} for i in range(8)]
    write(root / "jaster/kuci/test.jsonl", jsonl(kuci[:4]))
    write(root / "jaster/kuci/dev.jsonl", jsonl(kuci[4:]))
    write(root / "jaster/kuci/train.jsonl", jsonl(kuci[4:]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for d in range(10):
            doc = {"header": {"document_id": f"E{d:05d}"}, "sentences": [
                {"sentence_id": 0, "sentence": f"売上{d}は増加した。", "opinions": [{"target": f"売上{d}", "category": "x", "polarity": "positive", "from": 0, "to": 3}]},
                {"sentence_id": 1, "sentence": "特になし。", "opinions": []}]}
            archive.writestr(f"chABSA-dataset/e{d:05d}_ann.json", json.dumps(doc, ensure_ascii=False))
    (root / "jaster/chabsa").mkdir(parents=True, exist_ok=True)
    (root / "jaster/chabsa/chABSA-dataset.zip").write_bytes(buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ALT-Parallel-Corpus-20191206/data_en.txt", "".join(f"SNT.{d}.{s}\tThis is sentence {s} of {d}.\n" for d in range(1, 7) for s in (1, 2)))
        archive.writestr("ALT-Parallel-Corpus-20191206/data_ja.txt", "".join(f"SNT.{d}.{s}\tこれは{d}の{s}番目の文です。\n" for d in range(1, 7) for s in (1, 2)))
    (root / "jaster/alt").mkdir(parents=True, exist_ok=True)
    (root / "jaster/alt/ALT-Parallel-Corpus-20191206.zip").write_bytes(buffer.getvalue())
    for split, docs in (("train", [1, 2, 3]), ("dev", [4]), ("test", [5, 6])):
        write(root / f"jaster/alt/URL-{split}.txt", "".join(f"URL.{d}\thttp://example.org/{d}\n" for d in docs))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for d in range(10):
            xml = (f'<?xml version="1.0" encoding="UTF-8"?><art><tit><j>寺{d}</j></tit><par>'
                   f'<sen id="1"><j>寺{d}は古い。</j><e type="trans">Temple {d} old.</e><e type="check">Temple {d} is old.</e></sen>'
                   f"</par></art>").encode()
            info = tarfile.TarInfo(f"wiki_corpus_2.01/BDS/BDS{d:05d}.xml")
            info.size = len(xml)
            tar.addfile(info, io.BytesIO(xml))
    (root / "jaster/wikicorpus").mkdir(parents=True, exist_ok=True)
    (root / "jaster/wikicorpus/wiki_corpus_2.01.tar.gz").write_bytes(buffer.getvalue())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for split, n in (("test", 4), ("dev", 5)):
            data = "".join(f"What is {i}+{i}?,{2 * i},{i},{3 * i},{4 * i},{'ABCD'[i % 4]}\n" for i in range(n)).encode()
            info = tarfile.TarInfo(f"data/{split}/arithmetic_{split}.csv")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "jaster/mmlu_en").mkdir(parents=True, exist_ok=True)
    (root / "jaster/mmlu_en/data.tar").write_bytes(buffer.getvalue())
    mbpp = [{"task_id": i, "text": f"{i}を足す関数を書け。", "code": f"def add{i}(x):\n    return x + {i}", "test_list": [f"assert add{i}(1) == {i + 1}"],
             "test_setup_code": "", "challenge_test_list": []} for i in range(8)]
    write(root / "jaster/mbpp/test.jsonl", jsonl(mbpp[:4]))
    write(root / "jaster/mbpp/train.jsonl", jsonl(mbpp[4:]))
    xlsum = [{"id": str(i), "url": "", "title": "", "summary": f"要約{i}です。", "text": f"記事{i}の本文。長い文章が続く。"} for i in range(8)]
    write(root / "jaster/xlsum_ja/test.jsonl", jsonl(xlsum[:4]))
    write(root / "jaster/xlsum_ja/train.jsonl", jsonl(xlsum[4:]))
    return root
