"""The documentation site (DOCS.md): one resolution as static pages an administrator opens
from a folder, a web server or a ticket's link. `load` reads the resolution (the only SQL),
`site` renders and publishes the pages, `flow` draws the data-flow picture, `slug` names the
files."""
