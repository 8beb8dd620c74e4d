"""The whole first-run wizard in headless Chromium (Debian's chromium and
chromedriver, through selenium) as a new user would walk it, at phone
width and desktop width, with a screenshot of every step; it ends by
sending a message to the new mailbox over SMTP and reading it over IMAP.
The pages must fit a 375-pixel screen without sideways scrolling."""
import imaplib
import os
import shutil
import smtplib
import ssl
import time

import pytest

from loft_admin_helpers import admin_loft

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover
    webdriver = None

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
SHOTS = os.environ.get("LOFT_SCREENSHOTS")


def browser(width, height):
    if webdriver is None or not os.path.exists(CHROMIUM) or not os.path.exists(DRIVER):
        pytest.skip("machine: chromium, chromedriver or python3-selenium not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=%d,%d" % (max(width, 800), height), "--ignore-certificate-errors"):
        opts.add_argument(a)
    if width < 800:
        # a desktop window cannot be this narrow: emulate the phone's screen
        opts.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 2}})
    # starting Chromium on a loaded machine can fail once: one more try
    for attempt in (1, 2):
        try:
            d = webdriver.Chrome(service=Service(DRIVER), options=opts)
            break
        except Exception:  # selenium's WebDriverException and friends
            if attempt == 2:
                raise
    d.set_page_load_timeout(180)
    return d


def tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.mark.parametrize("name,width,height", [("phone", 375, 812), ("desktop", 1280, 900)])
def test_wizard_in_chromium(tmp_path, name, width, height):
    with admin_loft(tmp_path, enable=("admin", "smtpd", "imapd"),
                    conf={"smtpd.greeting_delay_ms": "0"}) as loft:
        loft.start()
        d = browser(width, height)
        shots = []

        def shot(step):
            path = os.path.join(str(tmp_path), "%s-%02d-%s.png" % (name, len(shots) + 1, step))
            d.save_screenshot(path)
            shots.append(path)
            # every page fits the screen: no sideways scrolling
            sw = d.execute_script("return document.documentElement.scrollWidth")
            iw = d.execute_script("return window.innerWidth")
            assert iw == width, "the page is laid out %dpx wide" % iw
            assert sw <= iw, "%s: page %dpx wide on a %dpx screen" % (step, sw, iw)

        def fill(field, value):
            e = d.find_element(By.NAME, field)
            e.clear()
            e.send_keys(value)

        def submit(text, then):
            """Clicks the button text and waits for the next page, which
            says then."""
            buttons = [b for b in d.find_elements(By.TAG_NAME, "button")
                       if b.text.strip() == text]
            assert buttons, "no button %r on %s" % (text, d.current_url)
            buttons[0].click()

            def gone(_drv):
                # chromedriver reports a node the new page has replaced
                # either as stale or, when the check races the page
                # swap, as "Node with given id does not belong to the
                # document": both mean the old page is gone
                try:
                    buttons[0].is_enabled()
                    return False
                except StaleElementReferenceException:
                    return True
                except WebDriverException as e:
                    if "does not belong to the document" in str(e):
                        return True
                    raise

            WebDriverWait(d, 90).until(gone)
            WebDriverWait(d, 90).until(lambda drv: then in drv.page_source)

        try:
            base = "http://127.0.0.1:%d" % loft.port("http")
            d.get(base + "/")
            assert "Choose the admin password" in d.page_source
            shot("password")
            fill("password", "correct horse battery")
            fill("password2", "correct horse battery")
            submit("Save and continue", "Your mail domain")
            shot("domain")
            fill("domain", "example.org")
            submit("Save and continue", "Network check")
            shot("network")
            submit("Continue", "Sending mail out")
            shot("outbound")
            d.find_element(By.ID, "mode-auto").click()
            submit("Save and continue", "DNS records to publish")
            # the copy buttons appear only with the script running
            # (the text can be there before the script at the end of the
            # page has run: wait for the script's work itself)
            WebDriverWait(d, 90).until(
                lambda drv: [b for b in drv.find_elements(By.CSS_SELECTOR, "[data-copy]")
                             if b.is_displayed()])
            assert "mail.example.org" in d.find_element(By.ID, "dns").text
            shot("dns")
            submit("Continue", "First mailboxes")
            fill("local", "alice")
            fill("password", "alice-secret-1")
            submit("Add mailbox", "Mailbox added.")
            assert "alice@example.org" in d.find_element(By.ID, "users").text
            shot("mailbox")
            submit("Continue", "Get a certificate from Let")
            assert ":" in d.find_element(By.ID, "fp").text  # the fingerprint
            shot("tls")
            submit("Continue", "Phone setup")
            assert d.find_element(By.ID, "qr").is_displayed()
            shot("phone")
            submit("Finish set-up", "Recent events")
            shot("dashboard")
            d.get(base + "/admin/users")
            shot("users")
            # the browser kept only HttpOnly cookies: no script can read them
            assert d.execute_script("return document.cookie") == ""
        finally:
            d.quit()
            if SHOTS:
                os.makedirs(SHOTS, exist_ok=True)
                for p in shots:
                    shutil.copy(p, SHOTS)
        assert len(shots) == 10
        # the mailbox the wizard made takes mail
        with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), context=tls(),
                              timeout=30) as s:
            s.login("alice@example.org", "alice-secret-1")
            s.sendmail("alice@example.org", ["alice@example.org"],
                       b"From: alice@example.org\r\nTo: alice@example.org\r\n"
                       b"Subject: hello from the wizard\r\n\r\nIt works.\r\n")
        with imaplib.IMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=tls()) as m:
            m.login("alice@example.org", "alice-secret-1")
            m.select("INBOX")
            for _ in range(100):
                typ, data = m.search(None, "SUBJECT", '"hello from the wizard"')
                if data[0]:
                    break
                time.sleep(0.1)
                m.noop()
            assert data[0]
            typ, msg = m.fetch(data[0].split()[0], "(BODY[TEXT])")
            assert b"It works." in msg[0][1]
