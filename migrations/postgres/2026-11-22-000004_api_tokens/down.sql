DROP TABLE up_api_tokens;
