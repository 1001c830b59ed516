DROP TABLE up_settings;
