"""The MQTT broker: the client every part connects with, the embedded Mosquitto, users and ACL."""
