# The packing proof of an application that loads its libraries at run time (tests/test_images.py):
# WeasyPrint reaches GObject, Pango, HarfBuzz and fontconfig through cffi's ffi.dlopen(), so no
# DT_NEEDED entry names them. The build stage has them installed, as the build stage of such an
# application has; find-libdeps lists the packages with and without --dlopen, and each list makes
# one runtime image: target "dlopen" renders a PDF, target "plain" cannot load the libraries.
# Target "packed-min" packs the dlopen list onto the -min image of that Python (MIN), the way
# the README shows: no shell, and the scripts of fontconfig and GLib done by apt-install --root.
ARG BUILD=build
ARG RUNTIME=runtime
ARG MIN=min
FROM ${BUILD} AS build
ARG PYTHON
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
RUN apt-install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
COPY scripts/install_locked.py /tmp/install_locked.py
COPY locks/weasyprint-*.txt /tmp/locks/
RUN --mount=type=secret,id=pip-cert \
    if [ -s /run/secrets/pip-cert ]; then export PIP_CERT=/run/secrets/pip-cert; fi \
 && python${PYTHON} -m venv /usr/share/python3/app \
 && python${PYTHON} /tmp/install_locked.py --python /usr/share/python3/app/bin/python --locks /tmp/locks weasyprint \
 && find-libdeps --dlopen required /usr/share/python3/app > /usr/share/python3/app/pkgdeps.txt \
 && find-libdeps /usr/share/python3/app > /usr/share/python3/app/pkgdeps-plain.txt \
 && find-libdeps --dlopen required --json /usr/share/python3/app > /usr/share/python3/app/libdeps.json \
 && python${PYTHON} -m compileall -q --invalidation-mode unchecked-hash /usr/share/python3/app

FROM ${RUNTIME} AS plain
ARG APT_BUILD_CONF=
COPY --from=build /usr/share/python3/app /usr/share/python3/app
RUN if [ -n "$APT_BUILD_CONF" ]; then echo "$APT_BUILD_CONF" > /etc/apt/apt.conf.d/00build; fi \
 && apt-install -r /usr/share/python3/app/pkgdeps-plain.txt \
 && rm -f /etc/apt/apt.conf.d/00build

FROM ${RUNTIME} AS dlopen
ARG APT_BUILD_CONF=
COPY --from=build /usr/share/python3/app /usr/share/python3/app
RUN if [ -n "$APT_BUILD_CONF" ]; then echo "$APT_BUILD_CONF" > /etc/apt/apt.conf.d/00build; fi \
 && apt-install -r /usr/share/python3/app/pkgdeps.txt \
 && find-libdeps --check /usr/share/python3/app \
 && rm -f /etc/apt/apt.conf.d/00build

FROM ${MIN} AS min

FROM build AS assemble-min
ARG APT_BUILD_CONF=
COPY --from=min / /target
RUN if [ -n "$APT_BUILD_CONF" ]; then echo "$APT_BUILD_CONF" > /etc/apt/apt.conf.d/00build; fi \
 && apt-install --root /target -r /usr/share/python3/app/pkgdeps.txt \
 && cp -a /usr/share/python3/app /target/usr/share/python3/app \
 && /target/usr/share/python3/app/bin/python -m pip uninstall -qy pip \
 && find /target/usr/share/python3/app -name '*.so' -exec strip --strip-debug {} + \
 && find-libdeps --check --root /target /usr/share/python3/app \
 && rm -f /etc/apt/apt.conf.d/00build

FROM scratch AS packed-min
COPY --from=assemble-min /target /
ENV LANG=C.UTF-8 LC_ALL=C.UTF-8
USER 10001:10001
WORKDIR /home/app
