"""The documentation site (DOCS.md): one resolution as static pages an administrator opens
from a folder, a web server or a ticket's link. `load` reads the resolution (the only SQL),
`site` renders the pages, `publish` swaps them in, `flow` draws the data-flow picture, `slug`
names the files. `diff` compares two resolutions (pure), `preview` resolves a ds_etc bundle
in memory to compare it, and `ticket` writes a comparison as change-ticket text."""
