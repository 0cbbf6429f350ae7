<?php
// A session that is not UTF-8 is stored as B and read back the same.
session_start();
if (isset($_GET['set'])) {
    $_SESSION['raw'] = "\xff\x00\xfe";
}
echo bin2hex($_SESSION['raw'] ?? '');
