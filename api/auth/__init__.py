"""Sign-in: register, verify, prelogin, login, logout, emailed links; the users,
sessions, links and throttle tables."""
