"""The estate resolver (RESOLVER.md): plain data in, plain results out, no database.

Pure modules only; loading an estate from the database and storing a resolution live in
their own modules beside these, and nothing here imports them.
"""
