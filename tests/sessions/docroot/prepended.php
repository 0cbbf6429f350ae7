<?php
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo defined('SITE_PREPENDED') ? 'site prepend ran' : 'site prepend missing', ' ', $_SESSION['n'];
