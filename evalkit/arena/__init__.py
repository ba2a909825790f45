"""The arena: blind pairwise votes on the answers runs already hold, from people and from an LLM judge, ranked.

- battles.py: which two answers a voter sees next (the pair that teaches the most), and the page's view;
- store.py: the votes, durably, in SQLite (WAL), keyed by battle; Chatbot Arena's battle lines;
- server.py and page.html: `evalkit arena serve`, the voting page;
- judging.py: `evalkit arena judge`, the MT-Bench pairwise judge as a voter;
- ranking.py: Bradley–Terry ratings on an Elo scale with bootstrap intervals;
- tables.py: the ranking, the win-rate matrix, the battles per pair, the agreement of people and judge.
"""
