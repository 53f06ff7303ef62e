"""Identity context: accounts, passwords, sessions (refresh tokens), access tokens and
Google ID tokens.

Read it in this order: messages (its contract: the bodies of its doors' requests and
answers), domain (Principal, Role and the account rules), accounts (where accounts and
sessions are stored), access_tokens (the JWTs it signs and checks), ports (password hashing,
ID-token verification), service (what each door does), doors (the doors' routes),
entrypoints (the Cloud Functions), wiring (how it is put together from its platform),
adapters/ (argon2 passwords, Google's ID tokens).

It has no message handlers: it publishes nothing and consumes nothing (no topics); the
public api asks it through its two HTTP doors.
"""
