-- The witnessbox catalogue lives beside Airflow's metadata database.
CREATE DATABASE witnessbox OWNER airflow;
