DROP TABLE up_used_oauth_states;
