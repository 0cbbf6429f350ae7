<?php
// A parse error: the script never runs.
echo "never" +;
