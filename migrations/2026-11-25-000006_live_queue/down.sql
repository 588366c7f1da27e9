DROP TABLE outbox;
DROP TABLE room_tickets;
DROP TABLE matches;
DROP TABLE queue_entries;
DROP TABLE event_interviewers;
DROP TABLE events;
