DROP TABLE up_conditions;
