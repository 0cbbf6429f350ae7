<?php
// An increment that takes ?s= seconds between reading and writing the session.
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
sleep((int) ($_GET['s'] ?? 2));
echo $_SESSION['n'];
