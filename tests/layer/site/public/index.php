<?php
// The front controller of the layer test's site: what the layer's PHP is and can do.
$backend = isset($_GET['backend']) ? curl_init('http://backend.test:' . (int) $_GET['backend'] . '/ping') : null;
if ($backend) {
    curl_setopt($backend, CURLOPT_RETURNTRANSFER, true);
    curl_setopt($backend, CURLOPT_TIMEOUT, 5);
}
$cafile = ini_get('openssl.cafile');
header('Content-Type: application/json');
echo json_encode([
    'binary' => PHP_BINARY,
    'version' => PHP_VERSION,
    'sapi' => PHP_SAPI,
    'ini' => php_ini_loaded_file(),
    'scanned' => php_ini_scanned_files(),
    'extension_dir' => ini_get('extension_dir'),
    'opcache' => function_exists('opcache_get_status') && opcache_get_status(false)['opcache_enabled'],
    'extensions' => get_loaded_extensions(),
    'memory_limit' => ini_get('memory_limit'),
    'display_errors' => ini_get('display_errors'),
    'timezone' => date_default_timezone_get() . ' ' . date('Y', 0),
    'paris' => (new DateTime('2026-07-01 12:00', new DateTimeZone('Europe/Paris')))->format('T P'),
    'iconv' => bin2hex(iconv('UTF-8', 'ISO-8859-15', '€') . iconv('UTF-8', 'SHIFT_JIS', '日本')),
    'backend' => $backend ? (curl_exec($backend) ?: curl_error($backend)) : null,
    'certificates' => substr_count((string) @file_get_contents($cafile), 'BEGIN CERTIFICATE'),
    'curl_cainfo' => ini_get('curl.cainfo') === $cafile,
    'environment' => array_keys(getenv()),
    'route' => [$_SERVER['SCRIPT_NAME'], $_SERVER['REQUEST_URI']],
    'logged' => error_log('lamphp layer test: logged from PHP'),
]);
