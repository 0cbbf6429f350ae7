<?php
// Holds the session's lock for ?s= seconds.
session_start();
$_SESSION['held'] = true;
sleep((int) ($_GET['s'] ?? 30));
echo 'done';
