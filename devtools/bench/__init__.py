"""``make bench``: drive case lifecycles through a running system and set each figure
beside a baseline measured in the same run on the same machine (issue 3, items 1-2).

``python -m devtools.bench --help`` lists the knobs; the README's Performance section
has the latest figures."""
