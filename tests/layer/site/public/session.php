<?php
// PHP's own file sessions, in the sandbox's /tmp.
session_start();
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
echo 'visits=', $_SESSION['visits'];
