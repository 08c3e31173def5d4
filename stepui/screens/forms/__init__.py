"""Modal forms: each collects input, calls one Authority action in a thread worker, and on a
refusal shows the Authority's own message while keeping what was typed."""
