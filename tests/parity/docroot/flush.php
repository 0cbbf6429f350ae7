<?php
// Output flushed in several pieces before the script ends.
header('Content-Type: text/plain');
foreach (['one', 'two', 'three'] as $part) {
    echo $part, "\n";
    flush();
}
