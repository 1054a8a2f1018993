"""Size limits of the journal's writes and the page bounds of every list
read, kept in one place.

The journal enforces them (journal.domain.lessons, journal.domain.attendance) and the gateway
publishes them in its OpenAPI document (gateway.openapi*), which it checks
every body against. Both read this module, so the two cannot disagree
again. The list bounds are read by kernel.paging (every service's lists)
and by the gateway's OpenAPI document. Plain numbers only: what a value
may be is the owning service's rule.
"""
from __future__ import annotations

# PUT /lessons/{id}/marks
MARKS_PER_REQUEST = 500          # marks in one request (a class of 30, many works)
MARK_COMMENT = 500               # characters of a mark's comment (also PATCH /marks/{id})

# PATCH and DELETE /marks/{id}, PUT /lessons/{id}/attendance (R-J7)
REASON = 500                     # characters of a correction's reason

# PUT /lessons/{id}/attendance
ATTENDANCE_ENTRIES = 500         # entries in one request

# POST /lessons, POST /imports/lessons (R-J1)
LESSON_TOPIC = 1000
LESSON_TYPE = 100
LESSON_WORK_TYPE = 100
LESSON_HOMEWORK = 5000

# Every list read (`?limit=&cursor=`): the page size and its bounds
LIST_DEFAULT = 50
LIST_MAX = 100
CURSOR = 500                     # characters of an opaque cursor
LIST_QUERY = 100                 # characters of a search text (`q`)
