<?php
// mail() with the POSTed to, subject, message, headers and params (the fifth argument);
// answers whether it returned true, how long it took, and the sendmail_path PHP used.
$start = microtime(true);
$args = [$_POST['to'] ?? '', $_POST['subject'] ?? '', $_POST['message'] ?? '', $_POST['headers'] ?? ''];
if (isset($_POST['params'])) {
    $args[] = $_POST['params'];
}
$sent = mail(...$args);
header('Content-Type: application/json');
echo json_encode([
    'sent' => $sent,
    'ms' => (int) round((microtime(true) - $start) * 1000),
    'sendmail_path' => ini_get('sendmail_path'),
]);
