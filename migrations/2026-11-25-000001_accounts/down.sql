DROP TABLE settings;
DROP TABLE profiles;
DROP TABLE users;
