<?php
// Requests this same site while it runs, as WordPress's installer and site health do
// (their loopback checks): answers what came back, or why nothing did.
$ctx = stream_context_create(['http' => ['timeout' => floatval($_GET['timeout'] ?? 5)]]);
$url = "http://127.0.0.1:{$_SERVER['SERVER_PORT']}/hello.php";
$body = @file_get_contents($url, false, $ctx);
echo $body === false ? "loopback failed\n" : "loopback: $body";
