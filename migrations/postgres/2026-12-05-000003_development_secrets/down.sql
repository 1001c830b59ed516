DROP TABLE up_development_secrets;
