<?php
ini_set('session.use_strict_mode', '1');
session_start();
echo session_id();
