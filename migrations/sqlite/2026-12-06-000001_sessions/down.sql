DROP TABLE up_session_used_tokens;
DROP TABLE up_sessions;
