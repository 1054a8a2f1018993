"""The messaging service: notifications built from other services' events
(internal mail, news, e-mail and digests come later, on the same store)."""
