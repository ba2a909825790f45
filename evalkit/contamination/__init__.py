"""Which benchmark items a training corpus already contains, and the scores without them.

`evalkit contamination scan` builds the items' n-gram index (`index`), streams the corpus in
shards (`corpus`) through one pure shard function on every core or a Dask cluster (`scan`), and
writes per-item verdicts and the contaminated-item list (`report`) that `show`, `compare`, `report`
and `gate --exclude` read (`evalkit.exclusion`). Text is normalised the same way on both sides (`text`).
"""
