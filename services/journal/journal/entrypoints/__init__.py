"""The journal's nameko entrypoints, one group (a mixin of
:class:`journal.service.Service`) per aggregate: decode, call the rules,
read and write through the store, encode."""
